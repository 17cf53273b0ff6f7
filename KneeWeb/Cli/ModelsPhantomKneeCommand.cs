using System.CommandLine;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Cli;

/// <summary>`KneeWeb models build-phantom-knee`: rebuild models/phantom-knee.onnx and its sidecar from this source.</summary>
public static class ModelsPhantomKneeCommand
{
    public static Command Create()
    {
        var outOption = new Option<string>("--out") { Description = "Folder to write phantom-knee.onnx and phantom-knee.json into.", DefaultValueFactory = _ => "models" };
        var command = new Command("build-phantom-knee", "Write the phantom-knee model (phantom-knee.onnx + sidecar) reproducibly from this source.") { outOption };
        command.SetAction(parseResult =>
        {
            string folder = parseResult.GetValue(outOption)!;
            Directory.CreateDirectory(folder);
            string path = PhantomKneeModel.Write(folder);
            Console.WriteLine($"{path} sha256 {ModelRegistry.Sha256Of(path)}");
            return 0;
        });
        return command;
    }
}
