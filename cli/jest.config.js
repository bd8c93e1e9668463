const path = require('node:path');

module.exports = {
  displayName: 'cli',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/cli/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
};
