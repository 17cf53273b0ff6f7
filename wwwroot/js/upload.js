// Upload page helpers: drag and drop onto the zone, and a streaming multipart POST to /v1/jobs
// with upload progress reported back to the Blazor component.

export function initDropZone(zone, input) {
  const stop = e => { e.preventDefault(); e.stopPropagation(); };
  ['dragenter', 'dragover'].forEach(t => zone.addEventListener(t, e => { stop(e); zone.classList.add('kw-drop-active'); }));
  ['dragleave', 'drop'].forEach(t => zone.addEventListener(t, e => { stop(e); zone.classList.remove('kw-drop-active'); }));
  zone.addEventListener('drop', e => {
    if (e.dataTransfer && e.dataTransfer.files.length > 0) {
      input.files = e.dataTransfer.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
}

export function selectedFile(input) {
  if (!input.files || input.files.length === 0) return null;
  const f = input.files[0];
  return { name: f.name, size: f.size };
}

export function upload(input, optionsJson, dotnet, group) {
  return new Promise(resolve => {
    if (!input.files || input.files.length === 0) { resolve({ status: 0, body: '' }); return; }
    const form = new FormData();
    form.append('options', optionsJson);
    form.append('file', input.files[0], input.files[0].name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', group == null ? '/v1/jobs' : '/v1/jobs?group=' + encodeURIComponent(group));
    // The sign-in cookie rides along, so the API asks for the page's antiforgery token (App.razor's meta tag).
    xhr.setRequestHeader('RequestVerificationToken', document.querySelector('meta[name="kw-antiforgery"]')?.content ?? '');
    let last = 0;
    xhr.upload.onprogress = e => {
      if (!e.lengthComputable) return;
      const now = Date.now();
      if (now - last < 100 && e.loaded < e.total) return;
      last = now;
      dotnet.invokeMethodAsync('OnUploadProgress', 100 * e.loaded / e.total);
    };
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => resolve({ status: 0, body: '' });
    xhr.send(form);
  });
}

// "Try a sample": the server generates (or reuses) the knee phantom and starts a job on it.
export async function trySample(optionsJson, group) {
  try {
    const response = await fetch(group == null ? '/v1/samples/phantom/jobs' : '/v1/samples/phantom/jobs?group=' + encodeURIComponent(group), {
      method: 'POST',
      // The sign-in cookie rides along, so the API asks for the page's antiforgery token, as for the upload.
      headers: {
        'Content-Type': 'application/json',
        'RequestVerificationToken': document.querySelector('meta[name="kw-antiforgery"]')?.content ?? '',
      },
      body: optionsJson,
    });
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: 0, body: '' };
  }
}
