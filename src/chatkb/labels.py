"""Words shown to users for numbers, shared by the CLI and the page."""

from __future__ import annotations

from .fusion import FusionParams

# A confidence is the estimated probability that a thread answers the question. Below the
# calibrated threshold the knowledge base declines ("Éloigné"); "Très proche" means the
# thread is more likely right than not.
VERY_CLOSE = 0.5
CLOSE = FusionParams().threshold


def confidence_label(c: float, *, threshold: float = CLOSE) -> str:
    """Words for a confidence: "Très proche" (≥ 0.5), "Proche" (≥ threshold), else "Éloigné"."""
    if c >= VERY_CLOSE:
        return "Très proche"
    if c >= threshold:
        return "Proche"
    return "Éloigné"
