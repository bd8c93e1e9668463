/**
 * One `jest` run covers every package: the runtime contract (contract/test), the construct library
 * (test/), the worker runtime (worker/test/, which starts its own throwaway RabbitMQ in a global
 * setup), the CLI (cli/test/) and the manifest validator (validate/test/).
 */
module.exports = {
  projects: [
    '<rootDir>/contract/jest.config.js',
    '<rootDir>/test/jest.config.js',
    '<rootDir>/worker/jest.config.js',
    '<rootDir>/cli/jest.config.js',
    '<rootDir>/validate/jest.config.js',
    '<rootDir>/test/packaging/jest.config.js',
  ],
};
