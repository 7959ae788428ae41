"""Test helpers that ship with hilo: real local servers that stand in for hosted services."""
