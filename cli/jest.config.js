const path = require('node:path');

module.exports = {
  displayName: 'cli',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/cli/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
  // Tests run against the contract's source, so a change there needs no build before jest.
  moduleNameMapper: {
    '^@agent-fleet/contract$': '<rootDir>/contract/src/index.ts',
    '^@agent-fleet/validate$': '<rootDir>/validate/src/index.ts',
  },
};
