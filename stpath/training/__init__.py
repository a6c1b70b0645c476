"""Training the image models: spots held in memory (``data``), device-side augmentation
(``augment``), the seeded, resumable loop (``loop``) and retrieval inference (``retrieval``)."""
