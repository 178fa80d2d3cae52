"""What the LangGraph server loads besides the graphs (``langgraph.json``): authentication."""
