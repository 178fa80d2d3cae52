"""Graph builders (uncompiled) and the module-level compiled graphs for LangGraph servers."""
