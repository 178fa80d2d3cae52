"""What callers run on top of the graphs: optimization runs (``optimize``) and their background
scheduling (``scheduling``), the optimizer for an agent of your own (``standalone``), the agent
as a node or tool of another app (``embed``), the interactive chat (``chat``) and the demo
(``demo``)."""
