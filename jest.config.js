/**
 * One `jest` run covers both packages: the construct library (test/) and the worker
 * runtime (worker/test/, which starts its own throwaway RabbitMQ in a global setup).
 */
module.exports = {
  projects: ['<rootDir>/test/jest.config.js', '<rootDir>/worker/jest.config.js'],
};
