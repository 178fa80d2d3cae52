"""Answers read in closed form: the option or rating distribution from the model's first token
(``closed_form``), and the position bias of option letters (``position_bias``)."""
