const path = require('node:path');

module.exports = {
  displayName: 'contract',
  rootDir: path.join(__dirname, '..'),
  roots: ['<rootDir>/contract/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
};
