// Upload page helpers: a streaming multipart POST to /v1/jobs
// with upload progress reported back to the Blazor component.

// MudFileUpload keeps the chosen file in an <input type=file> inside the zone (the newest one when it adds inputs).
function chosenInput(zone) {
  const inputs = [...zone.querySelectorAll('input[type=file]')].filter(i => i.files && i.files.length > 0);
  return inputs.length === 0 ? null : inputs[inputs.length - 1];
}

export function upload(zone, optionsJson, dotnet, group) {
  return new Promise(resolve => {
    const input = chosenInput(zone);
    if (input === null) { resolve({ status: 0, body: '' }); return; }
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
