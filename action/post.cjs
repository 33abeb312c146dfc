'use strict';
// The action's post step, run by the runner when the job ends (post-if:
// always(), so after a failure or a cancellation too): it releases the
// lease the main step made, named in the state it saved. Nothing saved
// (keep, lease-id, or no lease made) means nothing to release.

const a = require('./ovm.cjs');

async function post() {
  const id = process.env[`STATE_${a.STATE_LEASE}`] || '';
  if (!id) {
    a.info('no lease to release');
    return;
  }
  const url = a.baseURL();
  const ovm = new a.Client(url, await a.bearerToken(a.audience()));
  const path = `/v1/leases/${encodeURIComponent(id)}`;
  const { res, json } = await ovm.call('DELETE', path);
  if (json) {
    a.info(`released lease ${id} (account ${json.account_id})`);
    return;
  }
  if (res.status === 409) {
    // Already ended (the main step released it after a failure, or it
    // expired, or an admin revoked it): nothing left to do.
    const l = await ovm.must('GET', path);
    if (l.state === 'ended') {
      a.info(`lease ${id} had already ended (${l.end_reason})`);
      return;
    }
  }
  throw a.answerError(`DELETE ${path} (the lease ends at its expiry)`, res);
}

a.run(post);
