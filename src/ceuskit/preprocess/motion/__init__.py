"""Motion compensation: rigid tissue translation per frame relative to the ROIs' reference frame.

* :mod:`.features`: speckle-smoothed, half-resolution features of each frame's search area;
* :mod:`.ncc`: masked normalised cross-correlation for every candidate shift at once (one or several templates);
* :mod:`.templates`: each frame's neighbours in time and their mean (past and future apart across a change);
* :mod:`.posterior`: each frame's shift posterior under a tissue-speed prior (forward–backward);
* :mod:`.breathing`: the breathing period, and a prior one period away where the image is silent;
* :mod:`.rejection`: frames matched far worse than both sides in time (or, alone, not at all);
* :mod:`.arrival`: leading frames that do not yet show what their template shows, placed by the frames after them;
* :mod:`.envelope`: where the breathing takes the tissue (a disc while tracking, a hull at the end);
* :mod:`.reference`: positions between states, smoothed in time, and the reference frame's own position;
* :mod:`.tracker`: whole-clip tracking anchored to the breathing centre, and the decision to apply;
* :mod:`.result`: :class:`MotionResult`.
"""

from ceuskit.preprocess.motion.features import FEATURE_SCALE, frame_features
from ceuskit.preprocess.motion.result import MotionResult
from ceuskit.preprocess.motion.tracker import TrackingOptions, track

__all__ = ["FEATURE_SCALE", "MotionResult", "TrackingOptions", "frame_features", "track"]
