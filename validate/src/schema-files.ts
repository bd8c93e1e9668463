import * as path from 'node:path';

/**
 * Where the shipped schemas are: `schemas/` at the package root, next to `src/` (tests) and `dist/`
 * (the installed package), so the same relative path serves both.
 */
export const SCHEMA_ROOT = path.join(__dirname, '..', 'schemas');

/** The KEDA 2.16.1, prometheus-operator v0.93.0 and Kueue v0.19.2 CRD schemas (one JSON file per kind and version). */
export const CRD_SCHEMA_DIR = path.join(SCHEMA_ROOT, 'crds');

/** Field lists of every Kubernetes 1.32 API type (scripts/extract-kubernetes-fields.js). */
export const KUBERNETES_FIELDS_FILE = path.join(SCHEMA_ROOT, 'kubernetes-1.32-fields.json');
