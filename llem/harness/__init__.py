"""The measurement protocols, side by side: offline (an engine in this process, llem/harness/offline.py),
server (an engine's OpenAI server under load, server.py; multi-turn sessions, sessions.py), and the steps
both share (job context, warm-up, idle baseline, the window loop: steps.py); the engines a worker keeps loaded between jobs (warm.py). llem.run.job picks one."""
