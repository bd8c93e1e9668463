// Integration tests spawn real workers against a real broker; their waits are bounded polls.
jest.setTimeout(60_000);
