'use strict';
// The action's main step: sign in, lease (or take the lease-id input's
// lease), issue credentials, mask them, and hand them to the job's later
// steps through GITHUB_ENV and GITHUB_OUTPUT. A lease this step made is
// named in GITHUB_STATE for the post step to release (unless keep), and
// released here at once if a later part of this step fails.

const a = require('./ovm.cjs');

// labels parses the labels input: one k=v per line, blank lines ignored.
function labels() {
  const out = {};
  for (const raw of a.input('labels').split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new a.ActionError(`input labels: "${line}" is not key=value`);
    const k = line.slice(0, i).trim();
    if (k in out) throw new a.ActionError(`input labels: "${k}" is given twice`);
    out[k] = line.slice(i + 1).trim();
  }
  return out;
}

// leaseRequest is the body of POST /v1/leases: only what was given, so the
// pool's defaults apply to the rest.
function leaseRequest() {
  const body = {};
  for (const name of ['pool', 'ttl', 'wait']) {
    const v = a.input(name);
    if (v) body[name] = v;
  }
  const l = labels();
  if (Object.keys(l).length > 0) body.labels = l;
  return body;
}

// waitMillis bounds the lease request: the wait and a minute.
function waitMillis(wait) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(wait || '');
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  return (m ? Number(m[1]) * unit[m[2]] : 5 * 60e3) + 60e3;
}

async function main() {
  const url = a.baseURL();
  const keep = a.boolInput('keep', false);
  const existing = a.input('lease-id');
  // Inputs are read (and refused) before anything is leased.
  const body = existing ? null : leaseRequest();
  const ovm = new a.Client(url, await a.bearerToken(a.audience()));

  let lease;
  if (existing) {
    lease = await ovm.must('GET', `/v1/leases/${encodeURIComponent(existing)}`);
    if (lease.state !== 'active') throw new a.ActionError(`lease ${existing} is ${lease.state} (${lease.end_reason || 'no reason'}), not active`);
  } else {
    lease = await ovm.vend(body, waitMillis(body.wait));
    a.checkLine(a.STATE_LEASE, lease.id);
    if (!keep) a.appendFileCommand('GITHUB_STATE', a.STATE_LEASE, lease.id);
  }
  try {
    await hand(ovm, lease);
  } catch (e) {
    if (!existing) await releaseAfterFailure(ovm, lease.id);
    throw e;
  }
}

// hand issues the lease's credentials and gives them to the job: every
// value is checked first, the secrets are masked, then the files written.
async function hand(ovm, lease) {
  const c = await ovm.must('POST', `/v1/leases/${encodeURIComponent(lease.id)}/credentials`);
  for (const k of ['AccessKeyId', 'SecretAccessKey', 'SessionToken']) {
    if (typeof c[k] !== 'string' || c[k] === '') throw new a.ActionError(`the credentials of lease ${lease.id} have no ${k}`);
  }
  const env = [
    ['AWS_ACCESS_KEY_ID', c.AccessKeyId],
    ['AWS_SECRET_ACCESS_KEY', c.SecretAccessKey],
    ['AWS_SESSION_TOKEN', c.SessionToken],
    ['AWS_CREDENTIAL_EXPIRATION', c.Expiration || ''],
    ['OVM_LEASE_ID', lease.id],
    ['OVM_ACCOUNT_ID', lease.account_id],
  ];
  if (c.Region) env.push(['AWS_REGION', c.Region], ['AWS_DEFAULT_REGION', c.Region]);
  const outputs = [
    ['lease-id', lease.id],
    ['account-id', lease.account_id],
    ['role-arn', c.RoleArn || lease.cross_account_role || ''],
    ['expires-at', lease.expires_at],
  ];
  for (const [k, v] of [...env, ...outputs]) a.checkLine(k, v);
  a.mask(c.AccessKeyId);
  a.mask(c.SecretAccessKey);
  a.mask(c.SessionToken);
  for (const [k, v] of env) a.appendFileCommand('GITHUB_ENV', k, v);
  for (const [k, v] of outputs) a.appendFileCommand('GITHUB_OUTPUT', k, v);

  a.info(`account ${lease.account_id}, lease ${lease.id} (pool ${lease.pool}, owner ${lease.owner}) until ${lease.expires_at}`);
  if (c.Simulated) a.notice('these credentials are simulated (the server runs the sim provider): they open nothing in AWS');
  if (c.Expiration && Date.parse(c.Expiration) < Date.parse(lease.expires_at)) {
    a.info(`the credentials expire at ${c.Expiration}, before the lease: to refresh them, run this action again with lease-id`);
  }
}

// releaseAfterFailure ends a lease this step made and could not hand over.
async function releaseAfterFailure(ovm, id) {
  try {
    const { res, json } = await ovm.call('DELETE', `/v1/leases/${encodeURIComponent(id)}`);
    if (json) { a.info(`released lease ${id} after the failure below`); return; }
    a.warning(a.answerError(`could not release lease ${id} (it ends at its expiry)`, res).message);
  } catch (e) {
    a.warning(`could not release lease ${id} (it ends at its expiry): ${e.message}`);
  }
}

a.run(main);
