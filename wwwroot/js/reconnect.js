// The reconnect notice's behaviour (Components/Shared/ReconnectNotice.razor): Blazor shows and hides it through
// classes; this adds the attempt count, a Retry that tries at once, and a reload when the server has dropped the
// session (the viewers restore their settings from sessionStorage after it).
const notice = document.getElementById('components-reconnect-modal');
const attempt = document.getElementById('components-reconnect-attempt');
const retryButton = document.getElementById('components-reconnect-button');

async function retry() {
    document.removeEventListener('visibilitychange', retryWhenVisible);
    try {
        if (await Blazor.reconnect()) return;
        // Reached the server, which no longer knows the circuit: resume it from its persisted state, else reload.
        if (typeof Blazor.resumeCircuit === 'function' && await Blazor.resumeCircuit()) return;
        location.reload();
    } catch {
        document.addEventListener('visibilitychange', retryWhenVisible);
    }
}

async function retryWhenVisible() {
    if (document.visibilityState === 'visible') await retry();
}

if (notice) {
    notice.addEventListener('components-reconnect-state-changed', event => {
        const detail = event.detail ?? {};
        if (attempt) attempt.textContent = detail.currentAttempt ? ` (attempt ${detail.currentAttempt})` : '';
        if (detail.state === 'failed') document.addEventListener('visibilitychange', retryWhenVisible);
        else if (detail.state === 'rejected') location.reload();
    });
    retryButton?.addEventListener('click', retry);
}
