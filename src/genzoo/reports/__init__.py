"""The seed claims' reports: each reads a sweep's run folders (or a run's checkpoint) and writes a
Markdown table and a figure into ``--out`` (default ``results/``, the recorded results when run from the
repository's root; docs/sweeps.md lists them)::

    python -m genzoo.reports.c5  outputs/c5_kl_directions/multiruns/<time> [--seed 1]
    python -m genzoo.reports.c6  outputs/c6_balance/multiruns/<time> [<time> ...]
    python -m genzoo.reports.c16 outputs/c16_architectures/multiruns/<time> [<time> ...]
    python -m genzoo.reports.c17 outputs/c17_text/multiruns/<time>
    python -m genzoo.reports.c19 outputs/c19_cycle_ablation/multiruns/<time>
    python -m genzoo.reports.c21 <palette run's last.ckpt> <RGB regression run's last.ckpt>
    python -m genzoo.reports.c22 <pixelcnn run's last.ckpt>
    python -m genzoo.reports.c26 outputs/c26_vae_vs_gan/multiruns/<time>

``runs`` (job discovery, overrides, CSV metrics, mean ± std) and ``figures`` are what they share with
``src/compare.py``; ``cli`` is their command line.
"""
