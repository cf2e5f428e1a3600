"""Motion compensation: rigid tissue translation per frame relative to the ROIs' reference frame.

* :mod:`.features`: speckle-smoothed, half-resolution features of each frame's search area;
* :mod:`.ncc`: masked normalised cross-correlation for every candidate shift at once;
* :mod:`.posterior`: each frame's shift posterior under a tissue-speed prior (forward–backward);
* :mod:`.breathing`: the breathing period, and a prior one period away where the image is silent;
* :mod:`.tracker`: whole-clip tracking anchored to the breathing centre, rejection, and the decision to apply;
* :mod:`.result`: :class:`MotionResult`.
"""

from ceuskit.preprocess.motion.features import FEATURE_SCALE, frame_features
from ceuskit.preprocess.motion.result import MotionResult
from ceuskit.preprocess.motion.tracker import TrackingOptions, track

__all__ = ["FEATURE_SCALE", "MotionResult", "TrackingOptions", "frame_features", "track"]
