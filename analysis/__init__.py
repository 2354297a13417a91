"""Analysis of model and circuit output: figures, spatial metrics and synthetic calcium
imaging. Never imports Brian2 or ``circuits``."""
