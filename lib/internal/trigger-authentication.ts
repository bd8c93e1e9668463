/**
 * The `authenticationRef` of a KEDA trigger, with the TriggerAuthentication it names when the chart
 * must define one. For the constructs that render ScaledObjects (the pool, the model server).
 */
import type { ApiObject } from 'cdk8s';
import type { Construct } from 'constructs';
import * as keda from '../../imports/keda-keda.sh';
import type { TriggerAuth } from '../triggers';
import { withDirectJson } from './direct-json';

const TriggerAuthentication = withDirectJson(keda.TriggerAuthentication, []);

/**
 * The reference to `auth` for a trigger of `scope`. `TriggerAuth.secrets` and `podIdentity` become a
 * TriggerAuthentication child of `scope` with id `id` (in `namespace`, default the chart's), pushed
 * onto `created`; references to existing objects create nothing.
 */
export function authenticationRef(
  scope: Construct,
  id: string,
  auth: TriggerAuth,
  created: ApiObject[],
  namespace?: string,
): { readonly name: string; readonly kind: string } {
  const spec = auth.spec;
  if (spec.kind === 'ref') return { name: spec.name, kind: spec.refKind };
  const ta = new TriggerAuthentication(scope, id, {
    metadata: { namespace },
    spec:
      spec.kind === 'secrets'
        ? {
            secretTargetRef: Object.entries(spec.parameters).map(([parameter, ref]) => ({
              parameter,
              name: ref.secretName,
              key: ref.key,
            })),
          }
        : {
            podIdentity: {
              provider: spec.provider as unknown as keda.TriggerAuthenticationSpecPodIdentityProvider,
              roleArn: spec.roleArn,
              identityId: spec.identityId,
            },
          },
  });
  created.push(ta);
  return { name: ta.name, kind: 'TriggerAuthentication' };
}
