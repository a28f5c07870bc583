// Test identity provider for tests/test_oauth.py: oauth2-mock-server on 127.0.0.1:PORT.
//
//   node idp.mjs PORT [TEST_KEY_PEM] [ASSERTION_PUBLIC_KEY_PEM]
//
// Serves /jwks, /token (client_credentials and the jwt-bearer grant) and the OpenID discovery
// document. TEST_KEY_PEM (an RSA private key) is published in the JWKS as kid "test-key" so
// the tests can sign tokens of any shape themselves. Tokens get aud "sluice", scope "kafka"
// and a sub: the client id for client_credentials, the assertion's sub for jwt-bearer. The
// mock server checks no assertion signature, so this script does: with
// ASSERTION_PUBLIC_KEY_PEM, a jwt-bearer assertion not signed by that key is refused.
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Events, OAuth2Server } from 'oauth2-mock-server';

const [port, testKeyPem, assertionKeyPem] = process.argv.slice(2);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
if (testKeyPem) {
  const jwk = createPrivateKey(readFileSync(testKeyPem)).export({ format: 'jwk' });
  await server.issuer.keys.add({ ...jwk, kid: 'test-key', alg: 'RS256', use: 'sig' });
}
const assertionKey = assertionKeyPem ? createPublicKey(readFileSync(assertionKeyPem)) : null;

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// Returns the assertion's claims, or null when its RS256 signature does not verify.
function checkAssertion(assertion) {
  const parts = (assertion || '').split('.');
  if (parts.length !== 3) return null;
  const header = b64json(parts[0]);
  if (assertionKey) {
    if (header.alg !== 'RS256') return null;
    const ok = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`),
      assertionKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return null;
  }
  return b64json(parts[1]);
}

server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const body = req.body || {};
  if (body.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    const claims = checkAssertion(body.assertion);
    token.payload.sub = claims ? claims.sub : 'rejected';
  } else if (!token.payload.sub) {
    let clientId = body.client_id;
    const auth = req.headers.authorization || '';
    if (!clientId && auth.startsWith('Basic ')) {
      clientId = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0];
    }
    token.payload.sub = clientId || 'anonymous-client';
  }
  token.payload.aud = 'sluice';
  token.payload.scope = 'kafka';
});

server.service.on(Events.BeforeResponse, (response, req) => {
  const body = req.body || {};
  if (body.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && !checkAssertion(body.assertion)) {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'assertion signature invalid' };
  }
});

await server.start(Number(port), '127.0.0.1');
console.log(`IDP ready ${server.issuer.url}`);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => { await server.stop(); process.exit(0); });
}
