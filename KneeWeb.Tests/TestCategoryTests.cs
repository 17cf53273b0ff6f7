using System.Reflection;
using Xunit;

namespace KneeWeb.Tests;

/// <summary>
/// Every test belongs to exactly one part of the suite, so `dotnet test --filter Category=...` (and
/// `scripts/test.sh PART`) runs each test in exactly one part: unit (in process, no server),
/// component (Blazor components rendered by bUnit), host (WebApplicationFactory), process (the real
/// server or command line as its own process), browser (Playwright and Chromium), reference
/// (cross-checks against the field's Python tools).
/// </summary>
[Trait("Category", "unit")]
public sealed class TestCategoryTests
{
    public static readonly IReadOnlyList<string> Categories = ["unit", "component", "host", "process", "browser", "reference"];

    [Fact]
    public void Every_test_has_exactly_one_known_category()
    {
        var problems = new List<string>();
        int tests = 0;
        foreach (Type type in typeof(TestCategoryTests).Assembly.GetTypes())
        {
            foreach (MethodInfo method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (method.GetCustomAttribute<FactAttribute>() is null)
                {
                    continue;
                }

                tests++;
                List<string> categories = [.. CategoriesOf(type), .. CategoriesOf(method)];
                if (categories.Count != 1 || !Categories.Contains(categories[0]))
                {
                    problems.Add($"{type.FullName}.{method.Name}: [{string.Join(", ", categories)}]");
                }
            }
        }

        Assert.True(tests > 100, $"Only {tests} tests found by reflection.");
        Assert.True(problems.Count == 0,
            $"Give each test class one [Trait(\"Category\", X)] with X one of {string.Join(", ", Categories)}:\n{string.Join("\n", problems)}");
    }

    private static IEnumerable<string> CategoriesOf(MemberInfo member) =>
        member.GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && a.ConstructorArguments.Count == 2 && (string?)a.ConstructorArguments[0].Value == "Category")
            .Select(a => (string?)a.ConstructorArguments[1].Value ?? "");
}
