/**
 * The checks of @ferry/serve that keep web pages away from the daemons, as pure functions over header
 * values: a foreign Origin, a rebound Host and a text/plain POST are refused; ferry's own clients pass.
 */
import t from 'tap';
import { checkContentType, checkHost, checkOrigin } from '@ferry/serve';

const none = new Set<string>();

t.test('Host: IP literals, localhost and allowed names only (DNS rebinding)', async (t) => {
  for (const host of ['127.0.0.1:7070', '10.1.2.3', '[::1]:7070', '[fe80::1]', 'localhost:7070', 'LOCALHOST']) {
    t.ok(checkHost(host, none).ok, `${host} passes`);
  }
  for (const host of ['evil.example:7070', '127.0.0.1.evil.example', 'localhost.evil.example', 'target:7070']) {
    t.match(checkHost(host, none), { ok: false, message: /not an IP address, localhost, or a name.*--allow-host/ }, `${host} refused`);
  }
  for (const host of [undefined, '', 'a b', 'user@127.0.0.1', '127.0.0.1/x']) {
    t.match(checkHost(host, none), { ok: false, message: /missing or not a host/ }, `${JSON.stringify(host)} refused`);
  }
  t.ok(checkHost('Target:7070', new Set(['target'])).ok, 'an allowed name passes, in any case');
});

t.test('Origin: none, or the daemon’s own', async (t) => {
  t.ok(checkOrigin(undefined, '127.0.0.1:7070', 'http').ok, "ferry's clients send no Origin");
  t.ok(checkOrigin('http://127.0.0.1:7070', '127.0.0.1:7070', 'http').ok, 'a page the daemon serves itself');
  t.ok(checkOrigin('http://127.0.0.1', '127.0.0.1:80', 'http').ok, 'the default port is the same origin');
  t.ok(checkOrigin('https://localhost:7443', 'localhost:7443', 'https').ok, 'https');
  for (const origin of ['http://evil.example', 'http://127.0.0.1:7071', 'https://127.0.0.1:7070', 'null', 'file://', 'ws://127.0.0.1:7070']) {
    t.match(checkOrigin(origin, '127.0.0.1:7070', 'http'), { ok: false, message: /other origins are refused/ }, `${origin} refused`);
  }
});

t.test('Content-Type: a POST must be application/json', async (t) => {
  t.ok(checkContentType('POST', 'application/json').ok);
  t.ok(checkContentType('POST', 'Application/JSON; charset=utf-8').ok);
  t.ok(checkContentType('GET', undefined).ok, 'GET has no body to check');
  for (const type of [undefined, 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonp']) {
    t.match(checkContentType('POST', type), { ok: false, message: /Content-Type: application\/json/ }, `${String(type)} refused`);
  }
});
