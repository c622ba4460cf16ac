"""Mail sources: a support mailbox read over IMAP."""
