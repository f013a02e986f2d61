"""Analysis after a promotion: providers take measurements, the runner keeps their progress
on the model and acts on the outcome (verify, roll back and hold, or hold) under the lock."""
