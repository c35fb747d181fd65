"""`charrnn serve`: a model over HTTP (OpenAI completions, rnn-writer's API, a web page).

Needs the `serve` extra (Starlette and uvicorn); nothing here is imported by `import charrnn`.
server.run starts it; engine.py holds the batching; backend.py is the only contact with a checkpoint.
"""
