// Trades the token for the daemon's page cookie (HttpOnly: this script never sees it again), then loads the page.
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = document.getElementById('token').value;
  const response = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (response.ok) {
    location.replace('/');
    return;
  }
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  document.getElementById('error').textContent = body.error;
});
