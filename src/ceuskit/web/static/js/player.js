// A clip player for the blinded reader: frames from the server, a slider, playback, the lesion's outline
// and the reader's "contrast arrives here" marker. Knows the clip only by its id.
import {api} from "./api.js";
import {$} from "./util.js";
import {drawRegions, pixelScale, strokeShape} from "./viewer.js";

export class Player {
  constructor(canvas, onFrame) {
    this.canvas = canvas; this.onFrame = onFrame;
    this.item = null; this.frame = 0; this.cache = new Map(); this.image = null; this.playing = null;
    this.showTarget = true; this.loading = new Map();
  }

  load(item) {
    this.stop();
    this.item = item; this.frame = 0; this.cache.clear(); this.loading.clear(); this.image = null;
    this.canvas.width = item.columns; this.canvas.height = item.rows;
    $("frame-slider").max = item.n_frames - 1;
    return this.show(0);
  }

  async image_(index) {
    if (this.cache.has(index)) return this.cache.get(index);
    if (!this.loading.has(index)) {
      const clip = this.item.clip;
      this.loading.set(index, api(`/api/clips/${clip}/frames/${index}`).then((r) => r.blob()).then(createImageBitmap)
        .then((bitmap) => { if (this.item && this.item.clip === clip) this.cache.set(index, bitmap); this.loading.delete(index); return bitmap; }));
    }
    return this.loading.get(index);
  }

  prefetch(from) {
    for (let k = from + 1; k < Math.min(this.item.n_frames, from + 8); k++) if (!this.cache.has(k)) this.image_(k).catch(() => {});
  }

  async show(index) {
    if (!this.item) return;
    index = Math.max(0, Math.min(this.item.n_frames - 1, index));
    this.frame = index;
    $("frame-slider").value = index;
    this.onFrame(index);
    const image = await this.image_(index);
    if (this.frame === index) { this.image = image; this.draw(); }
    this.prefetch(index);
  }

  draw() {
    const ctx = this.canvas.getContext("2d"), k = pixelScale(this.canvas);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.image) ctx.drawImage(this.image, 0, 0);
    if (!this.item) return;
    drawRegions(ctx, this.item.regions, k);
    if (this.showTarget && this.item.target) {
      ctx.strokeStyle = "rgba(255, 214, 10, 0.9)"; ctx.lineWidth = 1.5 * k; ctx.setLineDash([5 * k, 4 * k]);
      strokeShape(ctx, this.item.target);
      ctx.setLineDash([]);
    }
  }

  toggleTarget() { this.showTarget = !this.showTarget; $("show-target").checked = this.showTarget; this.draw(); }

  stop() { if (this.playing) { clearInterval(this.playing); this.playing = null; $("play").textContent = "▶"; } }

  togglePlay() {
    if (this.playing) { this.stop(); return; }
    if (!this.item) return;
    $("play").textContent = "⏸";
    this.playing = setInterval(() => {
      if (this.frame >= this.item.n_frames - 1) { this.stop(); return; }
      this.show(this.frame + 1);
    }, 100);
  }
}
