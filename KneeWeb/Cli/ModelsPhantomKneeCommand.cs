using System.CommandLine;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Cli;

/// <summary>`KneeWeb models build-phantom-knee`: rebuild models/phantom-knee.* and phantom-knee-small.* from this source.</summary>
public static class ModelsPhantomKneeCommand
{
    public static Command Create()
    {
        var outOption = new Option<string>("--out") { Description = "Folder to write phantom-knee.* and phantom-knee-small.* (.onnx + .json) into.", DefaultValueFactory = _ => "models" };
        var command = new Command("build-phantom-knee", "Write the knee phantom models (full size and half size, .onnx + sidecar) reproducibly from this source.") { outOption };
        command.SetAction(parseResult =>
        {
            string folder = parseResult.GetValue(outOption)!;
            Directory.CreateDirectory(folder);
            for (int coarsening = 1; coarsening <= 2; coarsening++)
            {
                string path = PhantomKneeModel.Write(folder, coarsening);
                Console.WriteLine($"{path} sha256 {ModelRegistry.Sha256Of(path)}");
            }

            return 0;
        });
        return command;
    }
}
