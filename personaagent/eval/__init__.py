"""`personaagent eval`: the ablation ladder on MovieLens, PrefEval and LaMP-format data."""
