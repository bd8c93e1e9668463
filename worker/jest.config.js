const path = require('node:path');

module.exports = {
  displayName: 'worker',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/worker/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
  passWithNoTests: true,
};
