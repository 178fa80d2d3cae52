"""Chat models: the factory for any OpenAI-compatible endpoint (``factory``), the embedded
llama.cpp server (``local``), and the one retry layer every model call goes through
(``resilience``)."""
