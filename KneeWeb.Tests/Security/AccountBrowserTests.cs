using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using KneeWeb.Tests.Web.Browser;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>Sign-in, the account page's API tokens and sign-out in real Chromium against a real server process.</summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class AccountBrowserTests(BrowserFixture fixture) : IAsyncLifetime
{
    private readonly TempFolder data = new("kneeweb-account-browser");
    private ServerProcess server = null!;

    public async Task InitializeAsync() => server = await ServerProcess.StartAsync(data.Path);

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        data.Dispose();
    }

    [Fact]
    public async Task Sign_in_create_use_and_revoke_a_token_then_sign_out()
    {
        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors, signIn: false);
        await using (context)
        {
            // A page asks for sign-in and comes back after it.
            await page.GotoAsync("/jobs");
            Assert.Contains("/account/signin", page.Url, StringComparison.Ordinal);
            await page.FillAsync("[data-testid=signin-user]", TestAccounts.AdminName);
            await page.FillAsync("[data-testid=signin-password]", "wrong password!!");
            await page.ClickAsync("[data-testid=signin-submit]");
            await Assertions.Expect(page.GetByTestId("signin-error")).ToBeVisibleAsync();

            await page.FillAsync("[data-testid=signin-user]", TestAccounts.AdminName);
            await page.FillAsync("[data-testid=signin-password]", TestAccounts.AdminPassword);
            await page.ClickAsync("[data-testid=signin-submit]");
            await page.WaitForURLAsync(url => url.EndsWith("/jobs", StringComparison.Ordinal));
            await Assertions.Expect(page.GetByTestId("signed-in-user")).ToHaveTextAsync(TestAccounts.AdminName);

            // A token made on the account page works for a script, and stops the moment it is revoked.
            await page.GotoAsync("/account");
            await page.FillAsync("[data-testid=token-name]", "nightly batch");
            await page.ClickAsync("[data-testid=create-token]");
            string token = (await page.GetByTestId("new-token").TextContentAsync())!.Trim();
            using HttpClient script = server.CreateAnonymousClient().WithToken(token);
            Assert.True((await script.GetAsync("/v1/jobs")).IsSuccessStatusCode);
            await Assertions.Expect(page.GetByTestId("tokens")).ToContainTextAsync("nightly batch");

            await page.Locator("tr", new() { HasText = "nightly batch" }).GetByTestId("revoke-token").ClickAsync();
            await Assertions.Expect(page.Locator("tr", new() { HasText = "nightly batch" })).ToContainTextAsync("revoked");
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await script.GetAsync("/v1/jobs")).StatusCode);

            // The audit page shows what happened (the test user is an Admin).
            await page.GotoAsync("/admin/audit");
            await Assertions.Expect(page.GetByTestId("audit-table")).ToContainTextAsync("token-revoked");
            await Assertions.Expect(page.GetByTestId("audit-table")).ToContainTextAsync("sign-in-failed");

            await page.GotoAsync("/jobs");
            Assert.Empty(errors);
            await page.GetByTestId("sign-out").ClickAsync();
            await page.WaitForURLAsync(url => url.Contains("/account/signin", StringComparison.Ordinal));
            await page.GotoAsync("/jobs");
            Assert.Contains("/account/signin", page.Url, StringComparison.Ordinal);
        }

        // Signing out ends the account's live connections on purpose, so the old page's connection
        // may be refused (401 on /_blazor) while the browser leaves it: that, and nothing else.
        Assert.All(errors, error => Assert.True(IsEndedLiveConnection(error), $"Unexpected console error after sign-out: {error}"));
    }

    private static bool IsEndedLiveConnection(string error) =>
        error.Contains("/_blazor", StringComparison.Ordinal)
        || error.Contains("Failed to load resource: the server responded with a status of 401", StringComparison.Ordinal)
        || error.Contains("negotiat", StringComparison.OrdinalIgnoreCase)
        || error.Contains("Failed to start the connection", StringComparison.Ordinal)
        || error.Contains("Failed to complete", StringComparison.Ordinal)
        || error.Contains("Connection disconnected", StringComparison.Ordinal)
        || error.Contains("Failed to start", StringComparison.Ordinal);

    [Fact]
    public async Task Pages_show_another_groups_job_as_not_found_and_live_lists_never_reveal_one()
    {
        await using (AccountsHost host = await AccountsHost.OpenAsync(data.Path))
        {
            await host.Accounts.AddGroupAsync("lab-b");
            await host.Accounts.AddUserAsync("bea", Roles.Member, "bea-password-2026", ["lab-b"]);
        }

        string input = TestVolumes.WriteRamp(data.Path, "ramp.nii.gz");
        using HttpClient admin = server.CreateClient();
        Guid foreign = await ApiClient.SubmitAsync(admin, input);
        await ApiClient.WaitForEndAsync(admin, foreign);

        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors, userName: "bea", password: "bea-password-2026");
        await using (context)
        {
            await page.GotoAsync($"/jobs/{foreign}");
            await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Job not found");

            // The job list reloads itself when a job appears; a job of another group must not slip in then.
            await page.GotoAsync("/jobs");
            await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
            Guid later = await ApiClient.SubmitAsync(admin, input);
            await ApiClient.WaitForEndAsync(admin, later);
            await page.WaitForTimeoutAsync(1000);
            Assert.Equal(0, await page.Locator("a[data-job]").CountAsync());
            await Assertions.Expect(page.GetByText("No jobs match")).ToBeVisibleAsync();
        }

        using HttpClient audit = server.CreateClient();
        string csv = await audit.GetStringAsync($"/v1/audit.csv?action=access-denied&user=bea");
        Assert.Contains($"bea,access-denied,{foreign:D},view page", csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_Admin_creates_an_account_and_a_group_through_the_page_and_the_new_account_signs_in()
    {
        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors);
        string password;
        await using (context)
        {
            await page.GotoAsync("/admin/users");
            await page.FillAsync("[data-testid=new-group-name]", "lab-c");
            await page.ClickAsync("[data-testid=create-group]");
            await Assertions.Expect(page.GetByTestId("admin-message")).ToHaveTextAsync("Created the group lab-c.");

            await page.FillAsync("[data-testid=new-user-name]", "cleo");
            await page.SelectOptionAsync("[data-testid=new-user-role]", Roles.Member);
            await page.ClickAsync("[data-testid=create-user]");
            await Assertions.Expect(page.GetByTestId("admin-message")).ToHaveTextAsync("Created the account cleo.");
            password = (await page.GetByTestId("new-password").TextContentAsync())!.Trim();
            Assert.Equal(20, password.Length);

            await page.SelectOptionAsync("[data-testid=member-group]", new SelectOptionValue { Label = "lab-c" });
            await page.SelectOptionAsync("[data-testid=member-user]", "cleo");
            await page.CheckAsync("[data-testid=member-lead]");
            await page.ClickAsync("[data-testid=add-member]");
            await Assertions.Expect(page.Locator("tr[data-group='lab-c']")).ToContainTextAsync("cleo (lead)");
            await Assertions.Expect(page.Locator("tr[data-user='cleo'] [data-testid=user-state]")).ToHaveTextAsync("active");
        }

        (IBrowserContext cleoContext, IPage cleoPage) = await fixture.OpenPageAsync(server.BaseAddress, errors, userName: "cleo", password: password);
        await using (cleoContext)
        {
            await Assertions.Expect(cleoPage.GetByTestId("account-groups")).ToContainTextAsync("lab-c (lead)");
            await Assertions.Expect(cleoPage.GetByTestId("account-roles")).ToHaveTextAsync(Roles.Member);
        }

        Assert.Empty(errors);
        using HttpClient audit = server.CreateClient();
        string csv = await audit.GetStringAsync("/v1/audit.csv");
        Assert.Contains("user-created,,user cleo", csv, StringComparison.Ordinal);
        Assert.Contains("group-created,,group lab-c", csv, StringComparison.Ordinal);
        Assert.Contains("member-added,,group lab-c", csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_member_of_two_groups_picks_the_group_of_a_new_job_on_the_upload_page()
    {
        await using (AccountsHost host = await AccountsHost.OpenAsync(data.Path))
        {
            await host.Accounts.AddGroupAsync("lab-g");
            await host.Accounts.AddUserAsync("gina", Roles.Member, "gina-password-2026", [KneeWeb.Data.Group.DefaultName, "lab-g"]);
        }

        string input = TestVolumes.WriteRamp(data.Path, "ramp.nii.gz");
        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors, userName: "gina", password: "gina-password-2026");
        await using (context)
        {
            await page.GotoAsync("/");
            await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
            await page.Locator("[data-testid=drop-zone][data-ready='true']").WaitForAsync(new() { Timeout = 120_000 });
            await page.GetByTestId("file-input").SetInputFilesAsync(input);
            await Assertions.Expect(page.GetByTestId("chosen-file")).ToContainTextAsync("ramp.nii.gz");
            await page.GetByTestId("group-choice").ClickAsync();
            await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "lab-g" }).ClickAsync();
            // The select stores its value asynchronously on the server; on a busy machine a Start click can
            // be handled first. The select shows the chosen name only once the server has stored it.
            await Assertions.Expect(page.GetByTestId("group-choice")).ToHaveTextAsync("lab-g");
            await page.GetByTestId("start").ClickAsync();
            await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        }

        Assert.Empty(errors);
        Guid id = Guid.Parse(page.Url[^36..]);
        int labG;
        await using (AccountsHost host = await AccountsHost.OpenAsync(data.Path))
        {
            labG = (await host.Accounts.ListGroupsAsync()).Single(g => g.Name == "lab-g").Id;
        }

        using HttpClient admin = server.CreateClient();
        string csv = await admin.GetStringAsync($"/v1/audit.csv?action=upload&user=gina");
        Assert.Contains($"gina,upload,{id:D},ramp.nii.gz,", csv, StringComparison.Ordinal);
        Assert.Contains($",group {labG}", csv, StringComparison.Ordinal);
    }
}
