"""chatkb: a knowledge base of expert answers from career-advice chats and FAQs."""

__version__ = "0.1.0"
