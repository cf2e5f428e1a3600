"""Every text/background pair of the workstation's style sheet reaches a contrast ratio of 4.5:1 (WCAG 2.2 AA,
success criterion 1.4.3), computed with WCAG's relative luminance from the colours the CSS declares.

The style sheet is parsed (tinycss2) and custom properties resolved.  Pairs:

* a rule that sets a text colour (``color``; ``fill`` for SVG ``text``) and a background: those two;
* a text colour without a background: on the background of the nearest rule its selector descends from
  (``.choices button.active kbd`` on ``.choices button.active``), on ``--contrast-on`` where the rule names
  its backdrop itself (an SVG label drawn over a bar), on the SVG background and its translucent phase bands
  for SVG text, else on every surface of the pages: the body, the panels and the form controls;
* a background without a text colour: with the text colour it inherits (the nearest ancestor rule's, else
  the body's).

Translucent colours are composited over what lies beneath.  Exempt: disabled controls (WCAG: inactive
user-interface components) and rules marked ``--contrast: none`` (elements that hold no text: swatches, bands,
markers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import tinycss2
from tinycss2 import color3

import ceuskit.web

STYLE = Path(ceuskit.web.__file__).parent / "static" / "style.css"
SURFACES = ("body", "aside", "button")  # the page, its panels (aside, header, dialogs share --panel), controls
AA = 4.5

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Rule:
    selector: str
    declarations: dict[str, str]


def _rules() -> list[Rule]:
    sheet = tinycss2.parse_stylesheet(STYLE.read_text(), skip_comments=True, skip_whitespace=True)
    out = []
    for node in sheet:
        if node.type != "qualified-rule":
            continue
        declarations = {d.name: tinycss2.serialize(d.value).strip()
                        for d in tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                                skip_whitespace=True)
                        if d.type == "declaration"}
        for selector in tinycss2.serialize(node.prelude).split(","):
            out.append(Rule(" ".join(selector.split()), declarations))
    return out


RULES = _rules()
VARIABLES = {name: value for rule in RULES if rule.selector == ":root"
             for name, value in rule.declarations.items() if name.startswith("--")}


def _colour(value: str | None) -> tuple[RGB, float] | None:
    """The one colour a declaration value names (custom properties resolved), with its alpha; None for
    anything else (a gradient, ``none``)."""
    if value is None:
        return None
    while "var(" in value:
        value = re.sub(r"var\((--[\w-]+)\)", lambda m: VARIABLES[m.group(1)], value)
    for token in tinycss2.parse_component_value_list(value):
        parsed = color3.parse_color(token)
        if parsed is not None and not isinstance(parsed, str):
            return (parsed.red, parsed.green, parsed.blue), parsed.alpha
    return None


def _over(top: tuple[RGB, float], under: RGB) -> RGB:
    (r, g, b), alpha = top
    return (r * alpha + under[0] * (1 - alpha), g * alpha + under[1] * (1 - alpha), b * alpha + under[2] * (1 - alpha))


def _luminance(rgb: RGB) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio (L1 + 0.05) / (L2 + 0.05) of two opaque colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declared(selector: str, prop: str) -> str | None:
    found = [r.declarations[prop] for r in RULES if r.selector == selector and prop in r.declarations]
    return found[-1] if found else None


def _background(selector: str) -> tuple[RGB, float] | None:
    return _colour(_declared(selector, "background") or _declared(selector, "background-color"))


def _ancestors(selector: str) -> list[str]:
    """``.a .b .c`` → ``.a .b``, ``.a`` (descendant combinators only)."""
    parts = selector.split(" ")
    return [" ".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def _surface(selector: str) -> RGB:
    found = _background(selector)
    assert found is not None and found[1] == 1.0, f"surface {selector} needs an opaque background"
    return found[0]


def _is_svg_text(selector: str) -> bool:
    return selector.startswith("svg") and selector.split(" ")[-1].startswith("text")


def _pairs() -> list[tuple[str, RGB, RGB]]:
    body_text = _colour(_declared("body", "color"))
    assert body_text is not None
    surfaces = [_surface(s) for s in SURFACES]
    svg_background = _surface("svg")
    bands = [c for r in RULES if r.selector.startswith(".band") and (c := _colour(r.declarations.get("fill")))
             and c[1] < 1.0]
    out = []
    for rule in RULES:
        if ":disabled" in rule.selector or rule.selector == ":root" or rule.declarations.get("--contrast") == "none":
            continue
        text_value = rule.declarations.get("fill" if _is_svg_text(rule.selector) else "color")
        text = _colour(text_value)
        own = None if rule.selector.startswith("svg") else _background(rule.selector)
        if text is None and own is None:
            continue
        ancestors = _ancestors(rule.selector)
        behind = next((b for a in ancestors if (b := _background(a)) is not None), None)
        beneath = [behind[0]] if behind is not None and behind[1] == 1.0 else surfaces
        if own is not None:
            beneath = [_over(own, under) for under in beneath]
        if text is None:  # a background: the text it holds is inherited
            inherited = next((c for a in ancestors if (c := _colour(_declared(a, "color"))) is not None), body_text)
            out += [(rule.selector, _over(inherited, b), b) for b in beneath]
            continue
        if "--contrast-on" in rule.declarations:
            named = _colour(rule.declarations["--contrast-on"])
            assert named is not None
            beneath = [_over(named, under) for under in ([svg_background] if _is_svg_text(rule.selector)
                                                         else surfaces)]
        elif _is_svg_text(rule.selector):
            beneath = [svg_background] + [_over(band, svg_background) for band in bands]
        out += [(rule.selector, _over(text, b), b) for b in beneath]
    return out


def _hex(rgb: RGB) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)


def test_the_contrast_ratio_matches_wcags_worked_values() -> None:
    assert ratio((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) == pytest.approx(21.0)
    assert ratio((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)) == pytest.approx(1.0)
    grey = _colour("#767676")  # the lightest grey with 4.5:1 on white (WebAIM: 4.54:1)
    assert grey is not None and ratio(grey[0], (1.0, 1.0, 1.0)) == pytest.approx(4.54, abs=0.01)


def test_the_style_sheet_is_parsed_whole() -> None:
    selectors = {rule.selector for rule in RULES}
    assert {".quality .flag", "svg text.axis", "button.primary", ".tab.active", ".error", "body"} <= selectors
    assert len(_pairs()) > 40


def test_every_text_and_background_pair_reaches_4_5_to_1() -> None:
    failing = [f"{selector}: {_hex(text)} on {_hex(back)} = {ratio(text, back):.2f}:1"
               for selector, text, back in _pairs() if ratio(text, back) < AA]
    assert failing == []
