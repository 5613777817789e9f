/**
 * The Helm chart in deploy/helm/profcol, checked with the real helm (built from the Go module
 * proxy, cached): `helm lint`, `helm template`, and the rendered configurations run through
 * `profcol validate` as the pods would load them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { profcol, repoRoot } from '../lib/profcol.js';
import { ensureGoTool } from '../setup/go-build.js';

const chart = path.join(repoRoot, 'deploy', 'helm', 'profcol');
let helm: string;
/** A helm built from source defaults to Kubernetes 1.20; the chart needs pod-index labels (1.28+). */
const KUBE_VERSION = '1.31.0';

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: any;
}

function template(...args: string[]): K8sObject[] {
  const out = execFileSync(helm, ['template', 'shop', chart, '--kube-version', KUBE_VERSION, ...args], { encoding: 'utf8' });
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** `profcol validate` on a rendered ConfigMap's profcol.yaml, with the pod's environment. */
function validate(configMap: K8sObject, env: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-helm-'));
  const file = path.join(dir, 'profcol.yaml');
  fs.writeFileSync(file, configMap.data!['profcol.yaml']!);
  return profcol(['validate', '--config', file], { env });
}

beforeAll(async () => {
  helm = await ensureGoTool('helm.sh/helm/v3/cmd/helm', 'v3.22.0', 'helm');
}, 30 * 60_000);

describe('the Helm chart', () => {
  it('passes helm lint', () => {
    const result = spawnSync(helm, ['lint', chart, '--strict', '--kube-version', KUBE_VERSION, '--set', 'pull.enabled=true'], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.status).toBe(0);
  });

  it('runs push as a Deployment behind a Service, with health probes on the health_check port', () => {
    const objects = template('--set', 'push.replicas=3');
    const deployment = find(objects, 'Deployment', 'shop-profcol-push');
    expect(deployment.spec.replicas).toBe(3);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.args).toEqual(['run', '--config', '/etc/profcol/profcol.yaml', '--log-format', 'json']);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports).toEqual({ ddtrace: 9529, metrics: 8888, health: 13133, status: 55679 });
    const service = find(objects, 'Service', 'shop-profcol-push');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports).toContainEqual({ name: 'ddtrace', port: 9529, targetPort: 'ddtrace' });
    // Pull is off unless asked for.
    expect(objects.some((o) => o.kind === 'StatefulSet')).toBe(false);
  });

  it('renders a push configuration profcol accepts', () => {
    const { code, stdout, stderr } = validate(find(template(), 'ConfigMap', 'shop-profcol-push'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('push (ddtrace → pprof_decode, goruntime → file)');
  });

  it('runs pull as a StatefulSet whose pods take shard.index from their ordinal and shard.total from the replica count', () => {
    const objects = template(
      '--set',
      'pull.enabled=true',
      '--set',
      'pull.replicas=3',
      '--set-json',
      'pull.targets=[{"url":"http://checkout.shop.svc:6060","service":"checkout"}]',
    );
    const statefulSet = find(objects, 'StatefulSet', 'shop-profcol-pull');
    expect(statefulSet.spec.replicas).toBe(3);
    const env = statefulSet.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SHARD_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } });
    expect(env).toContainEqual({ name: 'SHARD_TOTAL', value: '3' });
    const configMap = find(objects, 'ConfigMap', 'shop-profcol-pull');
    // As pod 2 of 3 loads it.
    const pod2 = validate(configMap, { SHARD_INDEX: '2', SHARD_TOTAL: '3' });
    expect(pod2.stderr).toBe('');
    expect(pod2.stdout).toContain('pull (pprof → goruntime → file)');
    // A shard index past the replica count (a scaled-down StatefulSet's leftover pod) is refused.
    const pod3 = validate(configMap, { SHARD_INDEX: '3', SHARD_TOTAL: '3' });
    expect(pod3.code).toBe(1);
    expect(pod3.stderr).toContain('receivers::pprof::shard::index: 3 must be below shard.total (3)');
  });

  it('sends to the exporters the values name', () => {
    const objects = template('--set-json', 'exporters={"otlp":{"endpoint":"http://collector:4318"}}', '--set-json', 'exporterIds=["otlp"]');
    const { code, stdout, stderr } = validate(find(objects, 'ConfigMap', 'shop-profcol-push'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('→ otlp)');
  });
});
