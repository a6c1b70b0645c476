"""Training and applying the image models, shared by both method branches: spots held in memory
(``data``), device-side augmentation (``augment``), the seeded, resumable loop (``loop``), the
finished run's checkpoint and history (``checkpoint``) and batched inference (``infer``)."""
