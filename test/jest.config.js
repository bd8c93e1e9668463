const path = require('node:path');

module.exports = {
  displayName: 'lib',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The packaging suites are their own project (test/packaging/jest.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/packaging/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
  // Tests run against the contract's source, so a change there needs no build before jest.
  moduleNameMapper: {
    '^@agent-fleet/contract$': '<rootDir>/contract/src/index.ts',
    '^@agent-fleet/cdk8s$': '<rootDir>/lib/index.ts',
  },
  setupFiles: ['<rootDir>/test/support/direct-json-check.ts'],
};
