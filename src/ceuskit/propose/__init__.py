"""One-click ROI proposals: a lesion's outline and its liver reference from one click, carried to every sweep.

Module map:

* :mod:`~ceuskit.propose.features` — what the clip says around the click: the tissue followed by the TIC
  extraction's tracking, each phase of the bolus speckle-averaged, parametric maps, the B-mode half.
* :mod:`~ceuskit.propose.contrast` — how unlike the liver each pixel behaves (abnormality), and the vessels.
* :mod:`~ceuskit.propose.outline` — the closed outline around the click (dynamic programming on rays).
* :mod:`~ceuskit.propose.liver` — the parenchyma reference at the lesion's depth, clear of everything else.
* :mod:`~ceuskit.propose.polygon` — masks as editable polygons that never cover an overlay.
* :mod:`~ceuskit.propose.proposal` — :func:`propose_rois`, the whole story for one click.
* :mod:`~ceuskit.propose.carry` — ROIs of the loop found again on each late-phase sweep.
* :mod:`~ceuskit.propose.marks` — the ``source``/``confidence`` marks of proposed ROIs: accept, edited.

Proposed ROIs are ordinary ROI-file entries with ``"source": "proposed"`` and a ``"confidence"``
(:mod:`ceuskit.roi`), so everything that reads ROIs reads them.
"""

from ceuskit.propose.carry import CarriedRois, LoopTemplate, carry_rois, loop_template
from ceuskit.propose.marks import accept, mark_edited, proposal_state
from ceuskit.propose.proposal import MIN_CONFIDENCE, Proposal, parse_click, propose_rois

__all__ = ["MIN_CONFIDENCE", "CarriedRois", "LoopTemplate", "Proposal", "accept", "carry_rois", "loop_template",
           "mark_edited", "parse_click", "propose_rois", "proposal_state"]
