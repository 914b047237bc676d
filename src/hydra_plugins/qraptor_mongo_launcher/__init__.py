"""Hydra launcher that queues a sweep as qraptor sessions in MongoDB (see mongo_launcher)."""
