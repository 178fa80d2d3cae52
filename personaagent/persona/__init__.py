"""The persona and its optimizer's parts: the persona's sections and lookup rules
(``sections``), the evidence computed from a user's history (``evidence``), the edit operators
(``operators``), the paired selection of candidates (``selection``), the losses
(``losses``) and the optimizer's settings (``settings``)."""
