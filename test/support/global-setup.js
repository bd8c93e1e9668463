/**
 * Runs once before the lib tests, in plain Node (outside Jest's module system, which cannot load
 * ES modules): dumps the field lists of the Kubernetes 1.32 API models to a JSON file that
 * test/support/k8s-schema.ts reads. Source: @kubernetes/client-node 1.1.x, installed under the
 * alias `k8s-models-1.32` because that release is generated from exactly Kubernetes 1.32.
 */
const fs = require('node:fs');
const path = require('node:path');

const FIELDS_FILE = path.join(
  __dirname,
  '..',
  '..',
  'node_modules',
  '.cache',
  'agent-fleet',
  'k8s-1.32-fields.json',
);

module.exports = async function globalSetup() {
  const models = await import('k8s-models-1.32/dist/gen/models/all.js');
  const fields = {};
  for (const [name, model] of Object.entries(models)) {
    if (typeof model?.getAttributeTypeMap !== 'function') continue;
    fields[name] = Object.fromEntries(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  }
  fs.mkdirSync(path.dirname(FIELDS_FILE), { recursive: true });
  fs.writeFileSync(FIELDS_FILE, JSON.stringify(fields));
};
module.exports.FIELDS_FILE = FIELDS_FILE;
