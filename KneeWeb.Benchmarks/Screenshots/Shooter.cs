using System.Globalization;
using System.Text;
using KneeWeb.Benchmarks.Server;
using Microsoft.Playwright;

namespace KneeWeb.Benchmarks.Screenshots;

/// <summary>Opens a page at each width, waits until the Blazor circuit is interactive and saves a full-page PNG.</summary>
internal sealed class Shooter(IBrowser browser, Uri baseAddress, string output, StringBuilder index) : IAsyncDisposable
{
    private static readonly int[] Widths = [390, 1280, 1920];

    /// <summary>The outermost elements that reach past the window's right edge, as tag.class[data-testid] and width.</summary>
    private const string WidestElements = """
        () => {
          const w = document.documentElement.clientWidth, out = [];
          for (const el of document.querySelectorAll('main *')) {
            const r = el.getBoundingClientRect();
            if (r.right > w + 1 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > w + 1 && el.parentElement.closest('main') && el.parentElement !== document.querySelector('main'))) {
              const id = el.getAttribute('data-testid');
              out.push(el.tagName.toLowerCase() + (el.classList.length ? '.' + [...el.classList].slice(0, 2).join('.') : '') + (id ? `[data-testid=${id}]` : '') + ` ${Math.round(r.width)} px`);
              if (out.length >= 4) break;
            }
          }
          return out;
        }
        """;
    private readonly List<string> errors = [];
    private IBrowserContext? context;
    private IPage? page;

    /// <summary>A context signed in through the real sign-in form as the bench Admin.</summary>
    public async Task<Shooter> SignInAsync()
    {
        var shooter = new Shooter(browser, baseAddress, output, index);
        await shooter.OpenAsync();
        IPage p = shooter.page!;
        await p.GotoAsync("/account/signin?ReturnUrl=%2Faccount");
        await p.FillAsync("[data-testid=signin-user]", BenchServer.AdminName);
        await p.FillAsync("[data-testid=signin-password]", BenchServer.AdminPassword);
        await p.ClickAsync("[data-testid=signin-submit]");
        await p.WaitForURLAsync(url => url.EndsWith("/account", StringComparison.Ordinal));
        return shooter;
    }

    /// <summary>A page seen by nobody signed in (the sign-in page itself).</summary>
    public async Task SignedOutAsync(string name, string path)
    {
        await using var shooter = new Shooter(browser, baseAddress, output, index);
        await shooter.OpenAsync();
        await shooter.ShootAsync(name, path, interactive: false);
    }

    public async Task ShootAsync(string name, string path, TimeSpan? settle = null, Func<IPage, Task>? prepare = null, bool interactive = true)
    {
        IPage p = page ?? throw new InvalidOperationException("Open first.");
        foreach (int width in Widths)
        {
            errors.Clear();
            await p.SetViewportSizeAsync(width, 900);
            await p.GotoAsync(path);
            if (interactive)
            {
                try
                {
                    await p.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 90_000 });
                }
                catch (TimeoutException)
                {
                    errors.Add("the page did not become interactive within 90 s");
                }
            }

            await p.WaitForLoadStateAsync(LoadState.NetworkIdle);
            if (prepare is not null)
            {
                await prepare(p);
            }

            // Viewers and charts draw after the circuit connects; a short settle catches their first frame.
            await p.WaitForTimeoutAsync((float)(settle ?? TimeSpan.FromSeconds(1)).TotalMilliseconds);
            // A page wider than the window scrolls sideways on a phone: say so in the index.
            int scrollWidth = await p.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
            if (scrollWidth > width)
            {
                string[] wide = await p.EvaluateAsync<string[]>(WidestElements);
                errors.Add($"the page is {scrollWidth} px wide in a {width} px window (scrolls sideways; widest: {string.Join(", ", wide)})");
            }

            string file = $"{name}-{width}.png";
            await p.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(output, file), FullPage = true });
            string seen = errors.Count == 0 ? "none" : string.Join(" ; ", errors.Take(8));
            index.AppendLine(CultureInfo.InvariantCulture, $"{file} | {name} ({width} px) | {path} | {seen}");
            Console.WriteLine($"  {file}{(errors.Count == 0 ? "" : $"  ({errors.Count} problems)")}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (context is not null)
        {
            await context.DisposeAsync();
        }
    }

    private async Task OpenAsync()
    {
        context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        // Hang guards, not speed bounds: a loaded machine may take far longer than Playwright's 30 s default.
        context.SetDefaultTimeout(180_000);
        context.SetDefaultNavigationTimeout(180_000);
        page = await context.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add("page error: " + error);
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                errors.Add($"{response.Status} {response.Url}");
            }
        };
    }
}
