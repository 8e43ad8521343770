"""python -m benchmarks: the performance table (benchmarks/suite.py; make bench).

Other commands, each with --help:
    python -m benchmarks.headless_checks     every check inside a headless InvokeAI, one after another:
    python -m benchmarks.floor                 the node vs its floor (input cached and evicted) and where its time goes
    python -m benchmarks.matting_headless      alpha matting at 4096x4096 vs rembg's
    python -m benchmarks.retweak               a 4096x4096 matting call, then reruns with only mask_grow changed
    python -m benchmarks.background_memory     12000x12000: opaque background_color vs plain cutout memory
    python -m benchmarks.soak                long run of mixed queue items in one server: memory per item, console prints
    python -m benchmarks.video               Remove Video Background: speed vs the notebook's way, error, flicker, memory
    python -m benchmarks.breakdown           the node's steps timed in process (real InvocationContext)
    python -m benchmarks.matting_check       our band solver vs rembg's matting, in process, on synthetic scenes
    python -m benchmarks.edge_colours        refine_foreground's edge-colour error over magenta, green and white
    python -m benchmarks.refine_check        Refine Cutout on a hard mask a few pixels off, subjects over photographs
Every target the figures are compared with is in benchmarks/targets.py.
"""

from benchmarks.suite import main

main()
