const path = require('node:path');

module.exports = {
  displayName: 'worker',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/worker/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  testEnvironment: 'node',
  // Tests run against the contract's source, so a change there needs no build before jest.
  moduleNameMapper: { '^@agent-fleet/contract$': '<rootDir>/contract/src/index.ts' },
  // Builds worker/dist and starts a throwaway RabbitMQ (or uses RABBITMQ_URL); stops it afterwards.
  globalSetup: '<rootDir>/worker/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/worker/test/support/global-teardown.ts',
  // Integration tests wait on real processes and a real broker with bounded polls of their own
  // (a project-level testTimeout is ignored when the root config runs several projects).
  setupFilesAfterEnv: ['<rootDir>/worker/test/support/timeout.ts'],
};
