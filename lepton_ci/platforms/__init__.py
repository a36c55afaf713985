"""Pure renderers for what the server adapters send: Jenkins job XML, GitLab report notes."""
