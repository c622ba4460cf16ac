"""Internals of the scoring stage; the public interface is :mod:`bot.sentiment`."""
